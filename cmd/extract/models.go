package main

import "github.com/printreg/printreg/internal/extract"

// modelMeasurer returns the 3D model measurer (pkg/mesh).
func modelMeasurer() extract.ModelMeasurer { return nil }
