"""`python -m controller_manager` runs kplane-controller-manager."""

from controller_manager.main import main

if __name__ == "__main__":
    main()
