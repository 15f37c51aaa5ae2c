package origin

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// fillAll sets every exported field reachable from v to a distinct
// non-zero value (pointers allocated, two elements per slice and map), so
// a conversion that forgets a field shows up as a zero after a round trip.
func fillAll(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprint("s", *n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i), n)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillAll(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(k, n)
			fillAll(e, n)
			v.SetMapIndex(k, e)
		}
	}
}

func filled[T any]() T {
	var v T
	n := 0
	fillAll(reflect.ValueOf(&v).Elem(), &n)
	return v
}

// TestLogTypes_Convert_EveryField: every field of the api values the
// leader logs survives the trip through the log's own types, so a field
// added to an api type without its log counterpart fails here.
func TestLogTypes_Convert_EveryField(t *testing.T) {
	b := filled[api.Bundle]()
	if got := toLogBundle(b).bundle(b.Created); !reflect.DeepEqual(got, b) {
		t.Errorf("bundle: %s", firstDiff("bundle", reflect.ValueOf(b), reflect.ValueOf(got)))
	}
	spec := filled[api.PutChannel]()
	back := fromLogChannelSpec(toLogChannelSpec(spec))
	if !reflect.DeepEqual(back, spec) {
		t.Errorf("channel spec: %s", firstDiff("spec", reflect.ValueOf(spec), reflect.ValueOf(back)))
	}
	// Only the legacy counts of a stats batch were ever logged: batches
	// since the analytics store never reach the log.
	batch := filled[api.StatsBatch]()
	batch.Edge, batch.Region, batch.Cells, batch.Devices = "", "", nil, nil
	if got := toLogStatsBatch(batch).batch(); !reflect.DeepEqual(got, batch) {
		t.Errorf("stats batch: %s", firstDiff("batch", reflect.ValueOf(batch), reflect.ValueOf(got)))
	}
}
