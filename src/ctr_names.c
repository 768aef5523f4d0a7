/* Container names: Docker's rule, generated names and status words. ANY
 * thread, but for bt_ctr_name_generate (loop: it reads the index). */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "berth/container.h"
#include "berth/daemon.h"
#include "berth/macro.h"

/* Our own lists: plain adjectives, and surnames of scientists, engineers and
 * mathematicians. Lower-case ASCII letters only, so every pair is a valid
 * name. */
static const char *const adjectives[] = {
    "amber",    "ancient", "ardent",  "azure",    "bold",     "brave",   "breezy",  "bright",
    "brisk",    "calm",    "candid",  "careful",  "cheerful", "civil",   "clever",  "cosmic",
    "crisp",    "curious", "dapper",  "daring",   "dashing",  "deft",    "devoted", "diligent",
    "dreamy",   "eager",   "earnest", "electric", "elegant",  "fabled",  "fair",    "fearless",
    "festive",  "fluent",  "frank",   "gallant",  "gentle",   "gifted",  "glad",    "golden",
    "graceful", "grand",   "hardy",   "hearty",   "honest",   "humble",  "jolly",   "jovial",
    "keen",     "kind",    "lively",  "loyal",    "lucid",    "lucky",   "lunar",   "mellow",
    "merry",    "mighty",  "modest",  "nimble",   "noble",    "patient", "placid",  "plucky",
    "polite",   "proud",   "quick",   "quiet",    "radiant",  "rapid",   "ready",   "regal",
    "restful",  "robust",  "rosy",    "rustic",   "serene",   "sharp",   "shiny",   "silent",
    "silver",   "sincere", "sleek",   "smooth",   "snowy",    "solar",   "spry",    "steady",
    "stellar",  "stoic",   "sturdy",  "sunny",    "swift",    "tender",  "tidy",    "tranquil",
    "trusty",   "upbeat",  "valiant", "vivid",    "warm",     "wise",    "witty",   "zesty",
};

static const char *const surnames[] = {
    "abbe",       "adleman",       "agassiz",    "agnesi",     "alhazen",
    "alvarez",    "ampere",        "anning",     "appleton",   "archimedes",
    "arrhenius",  "avogadro",      "babbage",    "backus",     "baekeland",
    "banach",     "bardeen",       "bayes",      "becquerel",  "bell",
    "bernoulli",  "bessel",        "bethe",      "blackwell",  "bohr",
    "boltzmann",  "boole",         "born",       "bose",       "boyle",
    "bragg",      "brahe",         "brattain",   "braun",      "bunsen",
    "burnell",    "cajal",         "cannon",     "cantor",     "carnot",
    "carson",     "cauchy",        "cavendish",  "celsius",    "cerf",
    "chadwick",   "chandrasekhar", "chebyshev",  "clausius",   "compton",
    "conway",     "copernicus",    "cori",       "coulomb",    "crick",
    "curie",      "cuvier",        "daguerre",   "dalton",     "darwin",
    "davy",       "dedekind",      "descartes",  "dewar",      "diesel",
    "diffie",     "dijkstra",      "dirac",      "doppler",    "eddington",
    "edison",     "ehrlich",       "einstein",   "engelbart",  "erdos",
    "euclid",     "euler",         "fahrenheit", "faraday",    "fermat",
    "fermi",      "feynman",       "fibonacci",  "fleming",    "floyd",
    "foucault",   "fourier",       "franklin",   "fraunhofer", "fresnel",
    "galileo",    "galois",        "galvani",    "gamow",      "gauss",
    "geiger",     "germain",       "gibbs",      "goddard",    "godel",
    "goodall",    "hahn",          "hale",       "hamilton",   "hamming",
    "hawking",    "heaviside",     "heisenberg", "hellman",    "helmholtz",
    "herschel",   "hertz",         "hilbert",    "hoare",      "hodgkin",
    "hooke",      "hopper",        "hubble",     "humboldt",   "huygens",
    "hypatia",    "jacobi",        "jenner",     "joule",      "karp",
    "kelvin",     "kepler",        "kernighan",  "kilby",      "kirchhoff",
    "knuth",      "kovalevskaya",  "lagrange",   "lamarr",     "lamport",
    "landau",     "langmuir",      "laplace",    "laue",       "lavoisier",
    "leavitt",    "leibniz",       "lemaitre",   "liskov",     "lister",
    "lorentz",    "lovelace",      "lyell",      "mach",       "marconi",
    "maxwell",    "mccarthy",      "mcclintock", "meitner",    "mendel",
    "mendeleev",  "merkle",        "michelson",  "millikan",   "minkowski",
    "minsky",     "mirzakhani",    "morse",      "moseley",    "napier",
    "nash",       "nernst",        "neumann",    "newton",     "nobel",
    "noether",    "noyce",         "oersted",    "ohm",        "onnes",
    "pascal",     "pasteur",       "pauli",      "pauling",    "peano",
    "penrose",    "perutz",        "planck",     "poincare",   "poisson",
    "priestley",  "ptolemy",       "rabin",      "raman",      "ramanujan",
    "rayleigh",   "riemann",       "ritchie",    "rivest",     "roentgen",
    "rutherford", "sagan",         "sakharov",   "salk",       "schrodinger",
    "seaborg",    "shamir",        "shannon",    "snell",      "somerville",
    "stephenson", "stevin",        "stokes",     "stroustrup", "sutherland",
    "szilard",    "tamm",          "tarjan",     "tesla",      "thacker",
    "thomson",    "torvalds",      "turing",     "tyndall",    "urey",
    "vavilov",    "volta",         "wallace",    "watt",       "weber",
    "wegener",    "weierstrass",   "wheeler",    "whitney",    "wiener",
    "wirth",      "wright",        "wu",         "yalow",      "yang",
    "young",      "yukawa",        "zeeman",     "zuse",       "zwicky",
};

/* Exposed for the unit test, which checks the lists stay valid. */
const char *const *bt__ctr_name_words(int which, size_t *ret_n);
const char *const *bt__ctr_name_words(int which, size_t *ret_n)
{
    *ret_n = which ? ARRAY_SIZE(surnames) : ARRAY_SIZE(adjectives);
    return which ? surnames : adjectives;
}

const char *bt_ctr_status_name(enum bt_ctr_status s)
{
    static const char *const names[BT_CTR_STATUS_MAX] = {
        [BT_CTR_CREATED] = "created",   [BT_CTR_RUNNING] = "running",
        [BT_CTR_PAUSED] = "paused",     [BT_CTR_RESTARTING] = "restarting",
        [BT_CTR_REMOVING] = "removing", [BT_CTR_EXITED] = "exited",
        [BT_CTR_DEAD] = "dead",
    };
    return (unsigned)s < BT_CTR_STATUS_MAX ? names[s] : "unknown";
}

static bool name_char(char ch, bool first)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return !first && (ch == '_' || ch == '.' || ch == '-');
}

/* Docker's ^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$: two characters at least. */
int bt_ctr_name_check(const char *name, struct bt_err **err)
{
    const char *p = name && name[0] == '/' ? name + 1 : name;
    bool ok = p && p[0] && p[1] && name_char(p[0], true);

    for (size_t i = 1; ok && p[i]; i++)
        ok = name_char(p[i], false);
    if (!ok)
        return bt_err_set(err, BT_EINVAL, 0,
                          "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                          name ? name : "");
    return 0;
}

static uint32_t random_below(uint32_t n)
{
    uint32_t v;

    /* getrandom of 4 bytes from an initialised pool does not fail or block;
     * should it, rand() still gives a name, only a less surprising one. */
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
        v = (uint32_t)rand();
    return v % n;
}

/* adjective_surname; after ten taken draws a number is appended, as the
 * space of pairs (about 25,000) fills up only on very busy hosts. */
int bt_ctr_name_generate(const struct bt_daemon *d, char **ret_name)
{
    char name[64];

    for (unsigned attempt = 0; attempt < 1000; attempt++) {
        const char *a = adjectives[random_below(ARRAY_SIZE(adjectives))];
        const char *s = surnames[random_below(ARRAY_SIZE(surnames))];

        if (attempt < 10)
            snprintf(name, sizeof(name), "%s_%s", a, s);
        else
            snprintf(name, sizeof(name), "%s_%s%u", a, s, random_below(attempt * 10));
        if (bt_ctr_by_name(d, name))
            continue;
        *ret_name = strdup(name);
        return *ret_name ? 0 : -ENOMEM;
    }
    return -EEXIST;
}
