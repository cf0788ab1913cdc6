package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder for image folders
	_ "image/png"  // registers the PNG decoder for image folders
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// MaxImagePixels caps the size of one image in an image folder (checked from the
// header before decoding), so a hostile file cannot make the decoder allocate gigabytes.
const MaxImagePixels = 4096 * 4096

// maxFolderValues caps the total float32 values an image folder may produce (2 GiB).
const maxFolderValues = 1 << 29

// LoadImageFolder reads a folder with one sub-folder per class, sorted by name (class
// 0 is the first), each holding PNG or JPEG images. All images must have the same
// size; the result has shape (N, C, H, W) with pixels scaled to [0, 1], where C is 1
// when every image is grayscale and 3 otherwise (gray images then repeat their one
// channel). Files with other extensions are skipped; an image of another size, or one
// that does not decode, is an error that names the file.
func LoadImageFolder(name, dir string) (*Dataset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	var classes []string
	for _, e := range entries {
		if e.IsDir() {
			classes = append(classes, e.Name())
		}
	}
	sort.Strings(classes)
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: %s: %s has no class sub-folders", name, dir)
	}
	if len(classes) > MaxClasses {
		return nil, fmt.Errorf("data: %s: %d class sub-folders, at most %d", name, len(classes), MaxClasses)
	}
	type sample struct {
		path  string
		label int
	}
	var files []sample
	for label, c := range classes {
		sub := filepath.Join(dir, c)
		es, err := os.ReadDir(sub)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		for _, e := range es {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".png", ".jpg", ".jpeg":
				if !e.IsDir() {
					files = append(files, sample{filepath.Join(sub, e.Name()), label})
				}
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("data: %s: no .png or .jpg images under %s", name, dir)
	}
	imgs := make([]image.Image, len(files))
	var w, h int
	gray := true
	for i, s := range files {
		img, err := decodeImage(s.path)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		b := img.Bounds()
		if i == 0 {
			w, h = b.Dx(), b.Dy()
			if len(files)*3*w*h > maxFolderValues {
				return nil, fmt.Errorf("data: %s: %d images of %dx%d exceed %d values", name, len(files), w, h, maxFolderValues)
			}
		} else if b.Dx() != w || b.Dy() != h {
			return nil, fmt.Errorf("data: %s: image %s is %dx%d, but %s is %dx%d: all images must have the same size",
				name, s.path, b.Dx(), b.Dy(), files[0].path, w, h)
		}
		switch img.ColorModel() {
		case color.GrayModel, color.Gray16Model:
		default:
			gray = false
		}
		imgs[i] = img
	}
	c := 3
	if gray {
		c = 1
	}
	x := tensor.New(len(files), c, h, w)
	labels := make([]int, len(files))
	plane := h * w
	for i, img := range imgs {
		labels[i] = files[i].label
		b := img.Bounds()
		base := x.Data[i*c*plane:]
		for yy := 0; yy < h; yy++ {
			for xx := 0; xx < w; xx++ {
				p := yy*w + xx
				r, g, bl, _ := img.At(b.Min.X+xx, b.Min.Y+yy).RGBA()
				if gray {
					base[p] = float32(r) / 0xffff
					continue
				}
				base[p] = float32(r) / 0xffff
				base[plane+p] = float32(g) / 0xffff
				base[2*plane+p] = float32(bl) / 0xffff
			}
		}
		imgs[i] = nil
	}
	return &Dataset{Name: name, X: x, Labels: labels, NumClasses: len(classes), ClassNames: classes}, nil
}

// decodeImage decodes one PNG or JPEG file after checking its header's size.
func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxImagePixels {
		return nil, fmt.Errorf("image %s: size %dx%d not in 1..%d pixels", path, cfg.Width, cfg.Height, MaxImagePixels)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return img, nil
}
