"""The client side of the Kubernetes API that every component shares (client-go's role): the REST
client (`rest`), kubeconfig loading (`config`), informers (`informer`), the rate-limited work queue
(`workqueue`), leader election on Leases (`leaderelection`) and the event recorder (`events`)."""
