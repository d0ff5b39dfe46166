//! Kubernetes pod resolution (in progress).
