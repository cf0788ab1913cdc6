// Package rollout moves a variant across a device class in canary stages: plans,
// cohorts, gates and a pure state machine, plus its fenced etcd persistence.
package rollout
