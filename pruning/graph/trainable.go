package graph

// frozenSlots lists, per operator, the input positions that hold configuration or
// statistics rather than learned weights: a parameter read there is not trained.
var frozenSlots = map[string][]int{
	"BatchNormalization": {3, 4}, // running mean and variance
	"Reshape":            {1},    // target shape
	"Squeeze":            {1},    // axes (opset 13)
	"Unsqueeze":          {1},    // axes (opset 13)
	"Clip":               {1, 2}, // min and max
	"Dropout":            {1, 2}, // ratio and training_mode
}

// Trainable reports whether the named parameter is learned by gradient descent: it
// exists and no node reads it as configuration or statistics (BatchNormalization's
// running mean and variance, Reshape's shape, Clip's bounds).
func (g *Graph) Trainable(name string) bool {
	if _, ok := g.Params[name]; !ok {
		return false
	}
	for _, n := range g.Nodes {
		for _, slot := range frozenSlots[n.Op] {
			if slot < len(n.Inputs) && n.Inputs[slot] == name {
				return false
			}
		}
	}
	return true
}
