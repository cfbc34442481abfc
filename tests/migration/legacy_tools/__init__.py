"""A legacy tool package in the ipfs_datasets_py layout (tools/<category>/<tool>.py), unchanged:
plain and async functions with keyword parameters that return status dicts."""
