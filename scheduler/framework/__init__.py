"""The scheduling framework: Status values, CycleState, the per-cycle Snapshot of NodeInfos, and one
base class per extension point. `scheduler.framework.runtime` runs a profile's plugins."""
