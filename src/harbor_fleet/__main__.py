from harbor_fleet.cli.main import main

raise SystemExit(main())
