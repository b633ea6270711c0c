"""Kubernetes objects as data: the v1.32 schemas of the built-in kinds, the resource table the
apiserver serves, selectors, patches, quantities, validation and `Status` errors (k8s.io/api and
apimachinery's counterpart). Objects are plain JSON-shaped dicts; the schemas say what they hold."""
