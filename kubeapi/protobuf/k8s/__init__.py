"""Generated protobuf modules of the Kubernetes schemas (see ../generate.py); do not edit."""
