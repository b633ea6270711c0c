"""`kplane-proxy` / `python -m kubeproxy`."""

from kubeproxy.main import main

if __name__ == "__main__":
    main()
