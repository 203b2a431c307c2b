"""One way to show a time everywhere (dashboard, admin, CSV, printouts): 24-hour, zone named.

Django reads these for English through FORMAT_MODULE_PATH; `calls.display.when` formats with them too.
"""

DATETIME_FORMAT = "Y-m-d H:i:s T"  # 2026-12-02 09:41:07 UTC
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
