// Package fleetprunev1 holds the protobuf messages exchanged between coordinators and
// agents. The Go code is generated from fleet.proto and committed.
package fleetprunev1

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative fleet.proto
