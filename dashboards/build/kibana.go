package build

func kibanaFiles() (map[string][]byte, error) { return nil, nil }
