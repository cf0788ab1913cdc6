// Package view reads the fleet's state from etcd into the shapes the operator sees:
// classes with their status, devices with presence and last report, tuning trials as
// a Pareto set, sensitivity curves and rollouts. It only reads.
package view
