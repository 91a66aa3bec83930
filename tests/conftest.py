import sys
from pathlib import Path

# Test helpers (e.g. integration/gateway_process.py) are imported by module name.
sys.path.insert(0, str(Path(__file__).parent / "integration"))

from db_backends import database, database_url, pg_template  # noqa: F401  (fixtures for every test)
