// The --s3-* flags of `aloft origin` and `aloft dev`: blobs in an
// S3-compatible bucket instead of the data directory.

package main

import (
	"errors"
	"flag"
	"os"

	"github.com/aloft/aloft/blobstore"
)

// s3Flags registers the S3 store's flags on fs; the returned function,
// called once fs is parsed, sets *dst to the store's configuration, or
// leaves it nil when no --s3-endpoint was given (blobs stay in the data
// directory). The credentials fall back to AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY after parsing, so --help never prints a secret
// from the environment.
func s3Flags(fs *flag.FlagSet, dst **blobstore.S3Config) func() error {
	var c blobstore.S3Config
	fs.StringVar(&c.Endpoint, "s3-endpoint", "", "keep blobs in this S3-compatible service, host[:port] (e.g. s3.eu-west-1.amazonaws.com); empty: in the data directory")
	fs.StringVar(&c.Bucket, "s3-bucket", "", "S3 bucket for blobs; it must exist (aloft never creates it)")
	fs.StringVar(&c.Prefix, "s3-prefix", "", "prefix of every blob key in the bucket, e.g. aloft/")
	fs.StringVar(&c.Region, "s3-region", "", "S3 region (empty: ask the service)")
	fs.StringVar(&c.AccessKey, "s3-access-key", "", "S3 access key (env AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.SecretKey, "s3-secret-key", "", "S3 secret key (env AWS_SECRET_ACCESS_KEY)")
	fs.BoolVar(&c.Insecure, "s3-insecure", false, "speak plain HTTP to the S3 service instead of HTTPS")
	fs.StringVar(&c.CAFile, "s3-ca-file", "", "PEM file of CA certificates to trust for the S3 service, besides the system's")
	return func() error {
		if c.Endpoint == "" {
			if c.Bucket != "" || c.Prefix != "" {
				return errors.New("--s3-bucket and --s3-prefix need --s3-endpoint")
			}
			return nil
		}
		if c.AccessKey == "" {
			c.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
		}
		if c.SecretKey == "" {
			c.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
		}
		if err := c.Validate(); err != nil {
			return err
		}
		*dst = &c
		return nil
	}
}
