package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// MaxClasses caps the label values a dataset may hold, so a hostile label file cannot
// make a model with millions of outputs.
const MaxClasses = 1 << 16

// FromIDX builds a dataset from decoded image and label arrays. Images of rank 3
// (N, H, W) become (N, 1, H, W); rank 2 (N, F) and rank 4 (N, C, H, W) keep their
// shape. Unsigned-byte pixels are scaled to [0, 1]; other element types are kept as
// they are. Labels must be a rank-1 array of N integers in [0, MaxClasses).
func FromIDX(name string, images, labels *IDX) (*Dataset, error) {
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: labels have rank %d, want 1", name, len(labels.Dims))
	}
	n := labels.Dims[0]
	if len(images.Dims) < 2 || len(images.Dims) > 4 {
		return nil, fmt.Errorf("data: %s: images have rank %d, want 2, 3 or 4", name, len(images.Dims))
	}
	for i, d := range images.Dims {
		if d == 0 {
			return nil, fmt.Errorf("data: %s: images have shape %v: dimension %d is empty", name, images.Dims, i)
		}
	}
	if images.Dims[0] != n {
		return nil, fmt.Errorf("data: %s: %d images but %d labels", name, images.Dims[0], n)
	}
	y, err := labels.Ints()
	if err != nil {
		return nil, fmt.Errorf("data: %s: labels: %w", name, err)
	}
	classes, err := countClasses(y)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	scale := float32(1)
	if images.Type == idxUint8 {
		scale = 1.0 / 255
	}
	shape := append([]int(nil), images.Dims...)
	if len(shape) == 3 {
		shape = []int{shape[0], 1, shape[1], shape[2]}
	}
	x := tensor.FromData(images.Float32s(scale), shape...)
	return &Dataset{Name: name, X: x, Labels: y, NumClasses: classes}, nil
}

// countClasses checks labels are in [0, MaxClasses) and returns max+1.
func countClasses(y []int) (int, error) {
	classes := 0
	for i, v := range y {
		if v < 0 || v >= MaxClasses {
			return 0, fmt.Errorf("label %d of sample %d not in [0, %d)", v, i, MaxClasses)
		}
		classes = max(classes, v+1)
	}
	return classes, nil
}

// LoadIDXFiles reads an images file and a labels file (raw or .gz) into a dataset.
func LoadIDXFiles(name, imagesPath, labelsPath string) (*Dataset, error) {
	images, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("data: %s images: %w", name, err)
	}
	labels, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("data: %s labels: %w", name, err)
	}
	return FromIDX(name, images, labels)
}

// splitPrefixes are the file-name prefixes of each split in MNIST-style folders.
var splitPrefixes = map[string][]string{
	"train": {"train-", "train_", "train."},
	"test":  {"t10k-", "test-", "t10k_", "test_", "test."},
}

// LoadIDXDir loads one split ("train" or "test") from a folder of IDX files named the
// MNIST way: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] ("test-" also works).
func LoadIDXDir(name, dir, split string) (*Dataset, error) {
	prefixes, ok := splitPrefixes[split]
	if !ok {
		return nil, fmt.Errorf("data: %s: split %q: want \"train\" or \"test\"", name, split)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	var images, labels string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		fn := strings.ToLower(e.Name())
		for _, p := range prefixes {
			if !strings.HasPrefix(fn, p) {
				continue
			}
			switch {
			case strings.Contains(fn, "images") && images == "":
				images = filepath.Join(dir, e.Name())
			case strings.Contains(fn, "labels") && labels == "":
				labels = filepath.Join(dir, e.Name())
			}
		}
	}
	if images == "" || labels == "" {
		return nil, fmt.Errorf("data: %s: no %s images and labels IDX files in %s (want e.g. %simages-idx3-ubyte.gz and %slabels-idx1-ubyte.gz)",
			name, split, dir, prefixes[0], prefixes[0])
	}
	return LoadIDXFiles(name+"/"+split, images, labels)
}
