"""`kplane-kubelet` / `python -m kubelet`."""

from kubelet.main import main

if __name__ == "__main__":
    main()
