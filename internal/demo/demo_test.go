package demo

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative samples", Config{TrainSamples: -5}, "--train-samples"},
		{"too many epochs", Config{Epochs: 1000}, "--epochs"},
		{"negative agents", Config{AgentsPerClass: -1}, "--agents-per-class"},
		{"negative timeout", Config{Timeout: -time.Second}, "--timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
