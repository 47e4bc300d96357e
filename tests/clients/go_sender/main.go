// The seed's Go sender (docs: "基于 Golang pprof") driven by a real CPU profile.
//
//	go_sender -url http://127.0.0.1:4040/api/v1/profile/ingest -name app -seconds 5
//
// Burns CPU in burnCPUFlamestream while runtime/pprof records a CPU profile for -seconds,
// then uploads the gzipped pprof exactly like the seed's sendProfileData (multipart `profile`,
// spyName=gospy, unit=samples, from/until in seconds, sampleRate=100). With -out, the profile
// is also written to that file so the test can compare totals. Standard library only.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"
)

var sink uint64

//go:noinline
func burnCPUFlamestream(stop *int32) {
	x := uint64(1)
	for atomic.LoadInt32(stop) == 0 {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	atomic.AddUint64(&sink, x)
}

func main() {
	remote := flag.String("url", "", "ingest URL (…/api/v1/profile/ingest)")
	name := flag.String("name", "application-demo", "application name")
	seconds := flag.Int("seconds", 5, "profile duration")
	out := flag.String("out", "", "also write the gzipped pprof here")
	flag.Parse()
	if *remote == "" {
		fmt.Fprintln(os.Stderr, "-url is required")
		os.Exit(2)
	}

	var profile bytes.Buffer
	from := time.Now().Unix()
	if err := pprof.StartCPUProfile(&profile); err != nil {
		fmt.Fprintln(os.Stderr, "start cpu profile:", err)
		os.Exit(1)
	}
	var stop int32
	done := make(chan struct{})
	go func() {
		burnCPUFlamestream(&stop)
		close(done)
	}()
	time.Sleep(time.Duration(*seconds) * time.Second)
	atomic.StoreInt32(&stop, 1)
	<-done
	pprof.StopCPUProfile()
	until := time.Now().Unix()

	if *out != "" {
		if err := os.WriteFile(*out, profile.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "write profile:", err)
			os.Exit(1)
		}
	}
	if err := sendProfileData(bytes.NewReader(profile.Bytes()), *remote, *name, from, until); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("sent %d bytes of pprof for %s\n", profile.Len(), *name)
}

// sendProfileData is the seed's sender; only the name and the time range are parameters.
func sendProfileData(pprof io.Reader, remoteURL, name string, from, until int64) error {
	bodyBuf := &bytes.Buffer{}
	bodyWriter := multipart.NewWriter(bodyBuf)
	pprofWriter, err := bodyWriter.CreateFormFile("profile", "profile.pprof")
	if err != nil {
		return err
	}

	_, err = io.Copy(pprofWriter, pprof)
	if err != nil {
		return err
	}

	err = bodyWriter.Close()
	if err != nil {
		return err
	}

	u, err := url.Parse(remoteURL)
	if err != nil {
		return err
	}

	q := u.Query()
	q.Set("spyName", "gospy")
	q.Set("name", name)
	q.Set("unit", "samples")
	q.Set("from", strconv.Itoa(int(from)))
	q.Set("until", strconv.Itoa(int(until)))
	q.Set("sampleRate", "100")
	u.RawQuery = q.Encode()

	req, err := http.NewRequest(http.MethodPost, u.String(), bodyBuf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", bodyWriter.FormDataContentType())

	client := http.Client{}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("server returned non-OK status: %s: %s", resp.Status, body)
	}

	return nil
}
