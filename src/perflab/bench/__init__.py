"""`perflab bench`: run a study against fresh servers and record the results as data."""
