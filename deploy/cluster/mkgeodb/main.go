// Command mkgeodb writes the GeoIP database `make cluster` routes by:
//
//	go run ./deploy/cluster/mkgeodb -out geo.mmdb 192.0.2.0/24=DE/EU 198.51.100.0/24=US/NA
//
// Each argument places one subnet in a country and a continent (see
// package geodb). It is a separate main, not an aloft subcommand, so the
// database writer stays out of the binary operators deploy: a real
// GeoDNS reads a vendor's database.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/aloft/aloft/geodns/geodb"
)

func main() {
	out := flag.String("out", "geo.mmdb", "database file to write")
	flag.Parse()
	var nets []geodb.Network
	for _, a := range flag.Args() {
		n, err := geodb.ParseNetwork(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkgeodb:", err)
			os.Exit(2)
		}
		nets = append(nets, n)
	}
	if len(nets) == 0 {
		fmt.Fprintln(os.Stderr, "mkgeodb: no networks; pass PREFIX=COUNTRY/CONTINENT arguments")
		os.Exit(2)
	}
	if err := geodb.Write(*out, nets); err != nil {
		fmt.Fprintln(os.Stderr, "mkgeodb:", err)
		os.Exit(1)
	}
}
