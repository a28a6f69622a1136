try:
    from bootstrap.cli import main
except KeyboardInterrupt:          # Ctrl-C before the CLI could say anything
    raise SystemExit(130)

raise SystemExit(main())
