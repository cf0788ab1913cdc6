package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// ReadCSV decodes a CSV table whose rows are features followed by an integer class
// label, into a dataset with X of shape (N, features). A first row that does not parse
// as numbers is taken as a header and skipped. Every row must have the same number of
// fields (at least two); features must be finite numbers and labels integers in
// [0, MaxClasses). Errors name the line at fault.
func ReadCSV(name string, r io.Reader) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	var (
		xs     []float32
		ys     []int
		fields int
	)
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("data: %s: csv: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if row == 0 {
			if len(rec) < 2 {
				return nil, fmt.Errorf("data: %s: csv line %d: %d fields, want features then a label", name, line, len(rec))
			}
			fields = len(rec)
			if isHeader(rec) {
				continue
			}
		}
		if len(rec) != fields {
			return nil, fmt.Errorf("data: %s: csv line %d: %d fields, want %d", name, line, len(rec), fields)
		}
		for i, f := range rec[:fields-1] {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("data: %s: csv line %d field %d: %q is not a finite number", name, line, i+1, f)
			}
			xs = append(xs, float32(v))
		}
		lf := strings.TrimSpace(rec[fields-1])
		y, err := strconv.Atoi(lf)
		if err != nil || y < 0 || y >= MaxClasses {
			return nil, fmt.Errorf("data: %s: csv line %d: label %q is not an integer in [0, %d)", name, line, lf, MaxClasses)
		}
		ys = append(ys, y)
	}
	if len(ys) == 0 {
		return nil, fmt.Errorf("data: %s: csv has no data rows", name)
	}
	classes, err := countClasses(ys)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	return &Dataset{Name: name, X: tensor.FromData(xs, len(ys), fields-1), Labels: ys, NumClasses: classes}, nil
}

// isHeader reports whether a first row holds a non-numeric field.
func isHeader(rec []string) bool {
	for _, f := range rec {
		if _, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err != nil {
			return true
		}
	}
	return false
}

// LoadCSVFile reads the CSV table at path (see ReadCSV).
func LoadCSVFile(name, path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ReadCSV(name, f)
}
