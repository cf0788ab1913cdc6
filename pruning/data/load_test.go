package data

import (
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadMNIST(t *testing.T) {
	for _, tt := range []struct {
		name, split string
		n           int
	}{
		{"mnist", "test", 10000},
		{"fashion-mnist", "test", 10000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(tt.name, tt.split)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tt.n || d.NumClasses != 10 {
				t.Fatalf("got %d samples of %d classes, want %d of 10", d.Len(), d.NumClasses, tt.n)
			}
			if wantNames := tt.name == "fashion-mnist"; (len(d.ClassNames) == 10) != wantNames {
				t.Fatalf("class names %q: want Fashion-MNIST's ten, none for digits", d.ClassNames)
			}
			if s := d.X.Shape; len(s) != 4 || s[1] != 1 || s[2] != 28 || s[3] != 28 {
				t.Fatalf("shape = %v, want [N 1 28 28]", s)
			}
			lo, hi := float32(1), float32(0)
			for _, v := range d.X.Data {
				lo, hi = min(lo, v), max(hi, v)
			}
			if lo != 0 || hi != 1 {
				t.Fatalf("pixel range [%v, %v], want [0, 1]", lo, hi)
			}
			counts := make([]int, 10)
			for _, y := range d.Labels {
				counts[y]++
			}
			for c, k := range counts {
				if k < 800 || k > 1200 {
					t.Fatalf("class %d has %d test samples, want about 1000", c, k)
				}
			}
		})
	}
	if testing.Short() {
		return
	}
	d, err := Load("mnist", "train")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 60000 {
		t.Fatalf("mnist train has %d samples, want 60000", d.Len())
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("no-such-dataset", "train"); !errors.Is(err, ErrUnknownDataset) {
		t.Fatalf("unknown name: err = %v, want ErrUnknownDataset", err)
	}
	if _, err := Load("mnist", "validation"); err == nil {
		t.Fatal("bad split: no error")
	}
	t.Setenv(EnvFashionMNISTDir, t.TempDir())
	if _, err := Load("fashion-mnist", "train"); err == nil || !strings.Contains(err.Error(), "train") {
		t.Fatalf("empty folder: err = %v, want one naming the split", err)
	}
}

func TestCSV(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "iris.csv")
	body := "a,b,label\n1.5,2,0\n-3,4e1,2\n 0.25, 1, 1\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Load(p, "train")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.NumClasses != 3 || d.X.Shape[1] != 2 {
		t.Fatalf("got %d rows, %d classes, shape %v; want 3, 3, [3 2]", d.Len(), d.NumClasses, d.X.Shape)
	}
	if d.X.Data[3] != 40 || d.Labels[2] != 1 {
		t.Fatalf("row 2 = %v label %d, want 40 and label 1", d.X.Data[2:4], d.Labels[2])
	}
	// A folder with train.csv and test.csv picks the split's file.
	for split, body := range map[string]string{"train": "1,2,0\n3,4,1\n", "test": "5,6,1\n"} {
		if err := os.WriteFile(filepath.Join(dir, split+".csv"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := Load(dir, "test"); err != nil || d.Len() != 1 || d.X.Data[0] != 5 {
		t.Fatalf("folder test split = %v, %v; want the one row of test.csv", d, err)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"ragged", "1,2,0\n1,0\n", "line 2"},
		{"bad number", "1,2,0\n1,x,0\n", "line 2 field 2"},
		{"nan", "1,NaN,0\n", "finite"},
		{"negative label", "1,2,-1\n", "label"},
		{"float label", "1,2,0.5\n", "label"},
		{"one column", "1\n2\n", "features then a label"},
		{"header only", "a,b\n", "no data rows"},
		{"bad quote", "1,\"2,0\n", "csv"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV("t", strings.NewReader(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestImageFolder(t *testing.T) {
	dir := t.TempDir()
	gray := func(v uint8) image.Image {
		g := image.NewGray(image.Rect(0, 0, 4, 3))
		for i := range g.Pix {
			g.Pix[i] = v
		}
		return g
	}
	writePNG(t, filepath.Join(dir, "train", "cat", "a.png"), gray(255))
	writePNG(t, filepath.Join(dir, "train", "cat", "b.png"), gray(0))
	writePNG(t, filepath.Join(dir, "train", "dog", "c.png"), gray(51))
	if err := os.WriteFile(filepath.Join(dir, "train", "dog", "notes.txt"), []byte("skip me"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Load(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if s := d.X.Shape; len(s) != 4 || s[0] != 3 || s[1] != 1 || s[2] != 3 || s[3] != 4 {
		t.Fatalf("shape = %v, want [3 1 3 4]", s)
	}
	if d.Labels[2] != 1 || d.NumClasses != 2 || d.X.Data[0] != 1 || math.Abs(float64(d.X.Data[2*12])-0.2) > 1e-6 {
		t.Fatalf("labels %v classes %d first %v dog %v; want [0 0 1], 2, 1, 0.2", d.Labels, d.NumClasses, d.X.Data[0], d.X.Data[24])
	}
	if !slices.Equal(d.ClassNames, []string{"cat", "dog"}) {
		t.Fatalf("class names %q, want the sub-folders [cat dog]", d.ClassNames)
	}

	// An RGB image makes the folder 3-channel; gray ones repeat their channel.
	rgb := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for i := 0; i < len(rgb.Pix); i += 4 {
		copy(rgb.Pix[i:], []byte{255, 0, 51, 255})
	}
	writePNG(t, filepath.Join(dir, "train", "dog", "d.png"), rgb)
	d, err = Load(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if d.X.Shape[1] != 3 {
		t.Fatalf("channels = %d, want 3", d.X.Shape[1])
	}
	last := d.X.Data[3*36:]
	if last[0] != 1 || last[12] != 0 || math.Abs(float64(last[24])-0.2) > 1e-6 {
		t.Fatalf("rgb pixel = %v %v %v, want 1 0 0.2", last[0], last[12], last[24])
	}
	if got := d.X.Data[36+12]; got != 0 {
		t.Fatalf("gray image green channel = %v, want 0", got)
	}

	// An image of another size is an error naming it.
	odd := image.NewRGBA(image.Rect(0, 0, 5, 3))
	writePNG(t, filepath.Join(dir, "train", "dog", "odd.png"), odd)
	if _, err := Load(dir, "train"); err == nil || !strings.Contains(err.Error(), "odd.png") {
		t.Fatalf("odd size: err = %v, want one naming odd.png", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "train", "dog", "odd.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "train"); err == nil || !strings.Contains(err.Error(), "odd.png") {
		t.Fatalf("corrupt file: err = %v, want one naming odd.png", err)
	}
}

func TestNormalizeShuffleSplit(t *testing.T) {
	d, err := Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	n := ComputeNorm(d)
	if math.Abs(float64(n.Mean[0])-0.1325) > 0.002 || math.Abs(float64(n.Std[0])-0.3105) > 0.002 {
		t.Fatalf("mnist test norm = %v/%v, want about 0.1325/0.3105", n.Mean, n.Std)
	}
	if err := d.Normalize(n); err != nil {
		t.Fatal(err)
	}
	if m := ComputeNorm(d); math.Abs(float64(m.Mean[0])) > 1e-3 || math.Abs(float64(m.Std[0])-1) > 1e-3 {
		t.Fatalf("after normalize: %v/%v, want 0/1", m.Mean, m.Std)
	}
	if err := d.Normalize(Norm{Mean: []float32{0}, Std: []float32{0}}); err == nil {
		t.Fatal("zero std: no error")
	}
	if err := d.Normalize(Norm{Mean: []float32{0, 0}, Std: []float32{1, 1}}); err == nil {
		t.Fatal("two channels for one: no error")
	}

	small := d.Subset("small", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	before := append([]int(nil), small.Labels...)
	first := small.X.Data[:784]
	small.Shuffle(7)
	moved := false
	for i := range before {
		if small.Labels[i] != before[i] {
			moved = true
		}
	}
	if !moved {
		t.Fatal("shuffle left the order unchanged")
	}
	found := false
	for i := range small.Len() {
		x, y := small.Batch([]int{i})
		if equal(x.Data, first) {
			found = y[0] == before[0]
		}
	}
	if !found {
		t.Fatal("after shuffle, sample 0 lost its label")
	}

	tr, va, err := d.Split(0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 9000 || va.Len() != 1000 {
		t.Fatalf("split = %d/%d, want 9000/1000", tr.Len(), va.Len())
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzReadCSV feeds arbitrary text to the CSV reader: an error or a consistent
// dataset, never a panic.
func FuzzReadCSV(f *testing.F) {
	f.Add("a,b,label\n1,2,0\n3,4,1\n")
	f.Add("1,2,3\n")
	f.Add("1,\"2\n")
	f.Add("1e40,2,0\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ReadCSV("fuzz", strings.NewReader(in))
		if err != nil {
			return
		}
		if d.X.Shape[0] != d.Len() || d.Len()*d.X.Shape[1] != len(d.X.Data) {
			t.Fatalf("shape %v inconsistent with %d labels and %d values", d.X.Shape, d.Len(), len(d.X.Data))
		}
		for _, y := range d.Labels {
			if y < 0 || y >= d.NumClasses {
				t.Fatalf("label %d outside %d classes", y, d.NumClasses)
			}
		}
	})
}
