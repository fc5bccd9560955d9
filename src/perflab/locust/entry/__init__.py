"""The folder of perflab's locustfile (alone, since locust puts its folder on sys.path)."""
