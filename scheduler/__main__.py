"""`python -m scheduler` runs kplane-scheduler."""

from scheduler.main import main

if __name__ == "__main__":
    main()
