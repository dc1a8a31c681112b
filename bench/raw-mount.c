/* Baseline for bench/Mount.Bench.ps1: the raw syscalls, no checks, no escaping.
 * Each mode prints two numbers: wall-clock milliseconds per iteration, then the process's CPU
 * milliseconds per iteration (the rest of the wall time is spent waiting, mostly in umount2).
 *   raw-mount pairs N lower upper work target   mount(2)+umount2 N times, prints ms per pair
 *   raw-mount newpairs N lower upper work target  the same pair through the new mount API (fsopen, fsconfig,
 *                                                fsmount, move_mount onto an O_PATH target), then umount2
 *   raw-mount many N target lower...            fsopen + one lowerdir+ per layer + move_mount, then umount; prints ms per mount
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#define MOVE_F_EMPTY 0x4
#define MOVE_T_EMPTY 0x40

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int report(double t0, double c0, int n) {
    printf("%.4f %.4f\n", (now_ms() - t0) / n, (cpu_ms() - c0) / n);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 7 && strcmp(argv[1], "pairs") == 0) {
        int n = atoi(argv[2]);
        char data[8192];
        snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", argv[3], argv[4], argv[5]);
        double t0 = now_ms(), c0 = cpu_ms();
        for (int i = 0; i < n; i++) {
            if (mount("overlay", argv[6], "overlay", 0, data) != 0) { perror("mount"); return 1; }
            if (umount2(argv[6], 0) != 0) { perror("umount2"); return 1; }
        }
        return report(t0, c0, n);
    }
    if (argc >= 7 && strcmp(argv[1], "newpairs") == 0) {
        int n = atoi(argv[2]);
        const char *keys[] = { "lowerdir", "upperdir", "workdir" };
        double t0 = now_ms(), c0 = cpu_ms();
        for (int i = 0; i < n; i++) {
            int fs = syscall(SYS_fsopen, "overlay", 1);
            if (fs < 0) { perror("fsopen"); return 1; }
            for (int k = 0; k < 3; k++)
                if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, keys[k], argv[3 + k], 0) < 0) { perror("fsconfig"); return 1; }
            if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) { perror("create"); return 1; }
            int mnt = syscall(SYS_fsmount, fs, 1, 0);
            if (mnt < 0) { perror("fsmount"); return 1; }
            int t = open(argv[6], O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (syscall(SYS_move_mount, mnt, "", t, "", MOVE_F_EMPTY | MOVE_T_EMPTY) < 0) { perror("move_mount"); return 1; }
            close(t); close(mnt); close(fs);
            if (umount2(argv[6], 0) != 0) { perror("umount2"); return 1; }
        }
        return report(t0, c0, n);
    }
    if (argc >= 5 && strcmp(argv[1], "many") == 0) {
        int n = atoi(argv[2]);
        const char *target = argv[3];
        double t0 = now_ms(), c0 = cpu_ms();
        for (int i = 0; i < n; i++) {
            int fs = syscall(SYS_fsopen, "overlay", 1);
            if (fs < 0) { perror("fsopen"); return 1; }
            for (int k = 4; k < argc; k++)
                if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+", argv[k], 0) < 0) { perror("fsconfig"); return 1; }
            if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) { perror("create"); return 1; }
            int mnt = syscall(SYS_fsmount, fs, 1, 1);
            if (mnt < 0) { perror("fsmount"); return 1; }
            int t = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (syscall(SYS_move_mount, mnt, "", t, "", MOVE_F_EMPTY | MOVE_T_EMPTY) < 0) { perror("move_mount"); return 1; }
            close(t); close(mnt); close(fs);
            if (umount2(target, 0) != 0) { perror("umount2"); return 1; }
        }
        return report(t0, c0, n);
    }
    fprintf(stderr, "usage: raw-mount pairs|newpairs N lower upper work target | raw-mount many N target lower...\n");
    return 2;
}
