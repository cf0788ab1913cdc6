// Package train fits and evaluates graphs on labelled datasets: SGD with momentum and
// weight decay or Adam, constant, step and cosine learning-rate schedules, knowledge
// distillation from a teacher model, early stop on a validation split, progress and
// checkpoint callbacks, seeded and reproducible.
package train
