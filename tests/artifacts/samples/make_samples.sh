#!/usr/bin/env bash
# Regenerates the sample media the content sniffing tests read: each file made by a real encoder
# (Debian's ffmpeg), as short as the format allows. Run from this directory: bash make_samples.sh
set -euo pipefail
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
tone=(-f lavfi -i "sine=frequency=440:duration=0.05:sample_rate=8000")
picture=(-f lavfi -i "testsrc=size=16x16:rate=10:duration=0.1")

ff "${tone[@]}" -ac 1 tone.wav
ff "${tone[@]}" -ac 1 -c:a libmp3lame tone-id3.mp3
ff "${tone[@]}" -ac 1 -c:a libmp3lame -id3v2_version 0 -write_id3v1 0 -write_xing 0 -map_metadata -1 tone-frames.mp3
ff "${tone[@]}" -ac 1 -ar 48000 -c:a libopus tone.opus
ff "${tone[@]}" -ac 1 -c:a libvorbis tone.ogg
ff "${tone[@]}" -ac 1 -c:a flac tone.flac
ff "${tone[@]}" -ac 1 -c:a aac -f adts tone.aac
ff "${tone[@]}" -ac 1 -c:a aac tone.m4a
ff "${tone[@]}" -ac 1 -ar 48000 -c:a libopus -f webm tone.webm
ff "${picture[@]}" -c:v mpeg4 -pix_fmt yuv420p clip.mp4
ff "${picture[@]}" -c:v libvpx -f webm clip.webm
ff "${picture[@]}" -c:v mpeg4 -f matroska clip.mkv
ff "${picture[@]}" -c:v mpeg4 -f mov clip.mov
ff "${picture[@]}" -frames:v 1 image.png
ff "${picture[@]}" -frames:v 1 image.jpg
ff "${picture[@]}" -frames:v 1 image.gif
ff "${picture[@]}" -frames:v 1 -c:v libwebp image.webp
