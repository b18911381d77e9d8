package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Setting is one environment variable the service reads, with its
// default written as the variable would be set.
type Setting struct {
	Name    string
	Default string
}

// Settings lists every variable Config reads (its envconfig tags, in
// field order, embedded settings included), with the default of each.
// The operators' settings table is checked against it.
func Settings() []Setting {
	var out []Setting
	collect(reflect.ValueOf(Default()), &out)
	return out
}

func collect(v reflect.Value, out *[]Setting) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, tagged := f.Tag.Lookup("envconfig")
		if !tagged {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				collect(v.Field(i), out)
			}
			continue
		}
		*out = append(*out, Setting{Name: name, Default: formatDefault(v.Field(i))})
	}
}

// formatDefault writes a value as envconfig reads it: lists and maps
// comma-separated, map entries key:value in key order.
func formatDefault(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	case reflect.Map:
		var parts []string
		for _, k := range v.MapKeys() {
			parts = append(parts, fmt.Sprintf("%v:%v", k.Interface(), v.MapIndex(k).Interface()))
		}
		slices.Sort(parts)
		return strings.Join(parts, ",")
	case reflect.Bool:
		if !v.Bool() {
			return "false"
		}
	case reflect.Int, reflect.Int64:
		if v.Int() == 0 {
			return ""
		}
	}
	return fmt.Sprint(v.Interface())
}
