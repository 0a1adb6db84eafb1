"""The ``pyxem-transformer`` command's entry point.

It lives outside the package so that known third-party deprecation
warnings can be silenced before ``pyxem_transformer`` imports pyxem, for the
command only, never for users who import the package:

* pyxem 0.21 imports a helper that hyperspy 2.5 has moved, which hyperspy
  announces with a ``VisibleDeprecationWarning`` on every import;
* rosettasciio writes ``.zspy`` through zarr 2's ``NestedDirectoryStore``,
  which zarr announces as deprecated on every save.
"""

import warnings

__all__ = ["main"]


def main() -> int:
    """Run ``pyxem_transformer.cli.main`` without the known warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`_get_block_pattern` has moved", module="hyperspy"
        )
        warnings.filterwarnings(
            "ignore", message="The NestedDirectoryStore is deprecated"
        )
        from pyxem_transformer.cli import main as cli_main

        return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
