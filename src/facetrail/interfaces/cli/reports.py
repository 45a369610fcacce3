"""The `facetrail report` command group, shared by the features that add reports to it.

Feature modules import `report_app` and add their commands (`report deployment` in
cli_live.py; oversight's `report foi` and `report dpia-check`); cli.py registers it once.
"""

from __future__ import annotations

import typer

report_app = typer.Typer(help="Reports for review and oversight.", no_args_is_help=True)
