package data

import "strings"

// fashionClasses are Fashion-MNIST's label names, by index.
var fashionClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// ClassNames returns the label names of a named dataset (fashion-mnist), or nil when
// the labels are plain indices (mnist digits, CSV, image folders).
func ClassNames(name string) []string {
	switch strings.ToLower(name) {
	case "fashion-mnist", "fashion_mnist", "fashionmnist":
		return append([]string(nil), fashionClasses...)
	}
	return nil
}
