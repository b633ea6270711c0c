"""controller_manager: the core controllers, level-triggered and leader-elected."""
