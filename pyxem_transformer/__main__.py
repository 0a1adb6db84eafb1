from pyxem_transformer.cli import main

raise SystemExit(main())
