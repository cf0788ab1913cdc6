package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load returns one split ("train" or "test") of a dataset named by nameOrPath:
//
//   - "mnist": MNIST from the GoMNIST module (see MNISTDir);
//   - "fashion-mnist": Fashion-MNIST (see FashionMNISTDir);
//   - a folder of MNIST-style IDX files (see LoadIDXDir);
//   - a .csv file of features and label (the split is ignored), or a folder holding
//     train.csv and test.csv;
//   - a folder of images with one sub-folder per class (see LoadImageFolder), or a
//     folder whose train/ and test/ sub-folders are such folders.
//
// An unknown name that is no existing path gives an error wrapping ErrUnknownDataset.
func Load(nameOrPath, split string) (*Dataset, error) {
	if split != "train" && split != "test" {
		return nil, fmt.Errorf("data: split %q: want \"train\" or \"test\"", split)
	}
	switch strings.ToLower(nameOrPath) {
	case "mnist":
		dir, err := MNISTDir()
		if err != nil {
			return nil, err
		}
		return LoadIDXDir("mnist", dir, split)
	case "fashion-mnist", "fashion_mnist", "fashionmnist":
		dir, err := FashionMNISTDir()
		if err != nil {
			return nil, err
		}
		d, err := LoadIDXDir("fashion-mnist", dir, split)
		if err != nil {
			return nil, err
		}
		d.ClassNames = ClassNames("fashion-mnist")
		return d, nil
	}
	st, err := os.Stat(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("data: %q: %w: want mnist, fashion-mnist, a CSV file or a folder of IDX files or images (%v)",
			nameOrPath, ErrUnknownDataset, err)
	}
	name := filepath.Base(filepath.Clean(nameOrPath))
	if !st.IsDir() {
		if strings.EqualFold(filepath.Ext(nameOrPath), ".csv") {
			return LoadCSVFile(name, nameOrPath)
		}
		return nil, fmt.Errorf("data: %s: %w: a file must be .csv; pass IDX files as a folder", nameOrPath, ErrUnknownDataset)
	}
	if csvPath := filepath.Join(nameOrPath, split+".csv"); fileExists(csvPath) {
		return LoadCSVFile(name+"/"+split, csvPath)
	}
	if hasIDX(nameOrPath) {
		return LoadIDXDir(name, nameOrPath, split)
	}
	if sub := filepath.Join(nameOrPath, split); isDir(sub) {
		return LoadImageFolder(name+"/"+split, sub)
	}
	return LoadImageFolder(name, nameOrPath)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// hasIDX reports whether dir holds a file that looks like an IDX file by name.
func hasIDX(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && (strings.Contains(strings.ToLower(e.Name()), "-ubyte") || strings.Contains(strings.ToLower(e.Name()), "idx")) {
			return true
		}
	}
	return false
}
