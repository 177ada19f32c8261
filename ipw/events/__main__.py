"""``python -m ipw.events > schemas/events-v1.json`` regenerates the committed schema."""

import json

from . import json_schema

print(json.dumps(json_schema(), indent=2, sort_keys=True))
