"""rkt image list: the images in the store as a table or JSON."""

from __future__ import annotations

import time

from rktfast.cli.command import Command, Context, Flag
from rktfast.cli.common import open_store
from rktfast.cli.image_view import display_name
from rktfast.errors import UsageError

FIELDS = {"id": "ID", "name": "NAME", "size": "SIZE", "importtime": "IMPORT TIME",
          "lastused": "LAST USED"}
SORT_KEYS = ("name", "importtime", "lastused", "size")


def run(ctx: Context) -> int:
    from rktfast.output.gojson import dumps
    from rktfast.output.tabwriter import format_table
    from rktfast.output.timefmt import format_size, go_time, relative_time

    f = ctx.flags
    fields = f["fields"] or list(FIELDS)
    for name in fields:
        if name not in FIELDS:
            raise UsageError(f'unknown field "{name}" (must be one of: {", ".join(FIELDS)})')
    for name in f["sort"]:
        if name not in SORT_KEYS:
            raise UsageError(f'unknown sort field "{name}" (must be one of: '
                             f'{", ".join(SORT_KEYS)})')
    if f["order"] not in ("asc", "desc"):
        raise UsageError(f'wrong sort order "{f["order"]}" (must be one of: asc, desc)')
    if f["format"] not in ("", "json", "json-pretty"):
        raise UsageError(f'invalid format "{f["format"]}"')

    store, _ = open_store(ctx)
    with store:
        images = store.index.all_images()
        names = {i.key: display_name(store, i) for i in images}
    sizes = {i.key: i.size + i.tree_size for i in images}
    sort_by = {"name": lambda i: names[i.key], "importtime": lambda i: i.import_time,
               "lastused": lambda i: i.last_used, "size": lambda i: sizes[i.key]}
    for key in reversed(f["sort"]):
        images.sort(key=sort_by[key])
    if f["order"] == "desc":
        images.reverse()

    if f["format"]:
        doc = [{"id": i.key, "name": names[i.key], "import_time": i.import_time,
                "last_used_time": i.last_used, "size": sizes[i.key]} for i in images]
        ctx.out(dumps(doc or None, pretty=f["format"] == "json-pretty") + "\n")
        return 0

    now = time.time()
    full = f["full"]

    def when(ns: int) -> str:
        return go_time(ns) if full else relative_time(ns / 1e9, now)

    def cell(i, field: str) -> str:
        if field == "id":
            return i.key if full else i.key[:19]
        if field == "name":
            return names[i.key]
        if field == "size":
            return str(sizes[i.key]) if full else format_size(sizes[i.key])
        if field == "importtime":
            return when(i.import_time)
        return when(i.last_used)

    rows = [] if f["no-legend"] else [[FIELDS[x] for x in fields]]
    rows += [[cell(i, x) for x in fields] for i in images]
    ctx.out(format_table(rows))
    return 0


FLAGS = [
    Flag("fields", "csv", [], "comma-separated list of fields to display. Accepted values: "
         "id,name,size,importtime,lastused"),
    Flag("sort", "csv", ["importtime"], "sort the output according to the provided "
         "comma-separated list of fields. Accepted values: name,importtime,lastused,size"),
    Flag("order", str, "asc", "choose the sorting order if at least one sort field is provided "
         "(--sort). Accepted values: asc,desc"),
    Flag("no-legend", bool, False, "suppress a legend with the list"),
    Flag("full", bool, False, "use long output format"),
    Flag("format", str, "", "choose the output format. Allowed format includes 'json', "
         "'json-pretty'. If empty, then the result is printed as key value pairs"),
]

COMMAND = Command(name="list", summary="List images in the local store",
                  usage="rkt image list", run=run, flags=FLAGS)
