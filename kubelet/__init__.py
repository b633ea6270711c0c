"""kubelet: the node agent that runs pods in containerd through CRI."""
