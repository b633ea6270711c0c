"""Pod volumes and what containers mount (upstream's pkg/volume and the mount half of kubelet_pods.go).

    manager.py       VolumeManager.set_up(pod) / tear_down(uid) / pods_on_disk(); PodVolume
    mounts.py        container_mounts(pod, container, volumes, env=..., hosts_file=...) -> CRI Mounts
    hosts.py         the kubelet-managed /etc/hosts (write_hosts_file, pod_hostname_and_domain)
    termination.py   termination-message files: termination_message_mount, read_termination_message
    tokens.py        TokenManager and api_token_source (TokenRequest) for projected tokens
    errors.py        VolumeError (FailedMount events), MountError (CreateContainerConfigError)
    atomic_writer.py, payload.py, downward.py, hostpath.py, ownership.py, sources.py, mounter.py: the parts

Import from the modules (this package imports nothing, so kubelet.envvars can use downward.py).
"""
