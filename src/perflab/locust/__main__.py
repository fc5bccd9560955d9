"""``python -m perflab.locust``: print the path of perflab's locustfile.

Usage: ``locust -f $(python -m perflab.locust) --worker --master-host 10.0.0.4``
"""

from perflab.locust import locustfile_path

print(locustfile_path())
