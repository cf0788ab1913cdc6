// Package profiles holds device classes, hardware profiles, selectors and SLOs: their
// types, the fleet document operators apply, validation, and fenced etcd persistence.
package profiles
