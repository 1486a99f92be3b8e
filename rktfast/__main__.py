from rktfast.cli.main import main

main()
