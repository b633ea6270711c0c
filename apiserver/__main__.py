"""`kplane-apiserver` / `python -m apiserver`: the Kubernetes API server."""

from apiserver.main import main

if __name__ == "__main__":
    main()
