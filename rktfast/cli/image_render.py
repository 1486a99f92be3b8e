"""rkt image render IMAGE OUTPUT_DIR (see image_extract)."""

from rktfast.cli.command import Command
from rktfast.cli.image_extract import FLAGS, unpack

COMMAND = Command(name="render", summary="Render a stored image to a directory with all its "
                  "dependencies", usage="rkt image render IMAGE OUTPUT_DIR", flags=FLAGS,
                  run=lambda ctx: unpack(ctx, render=True))
