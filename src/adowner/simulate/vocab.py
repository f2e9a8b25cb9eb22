"""The shared vocabulary of the synthetic marketplace: cities, names, prices and ad phrases.

Every owner draws from these same lists, so topic alone never separates owners; what separates
them is *which* phrases, templates and habits each one prefers (see ``style.py``).

The ad language imitates companionship / massage classifieds of the Backpage era (Portnoff et al.,
KDD 2017) and stays non-explicit. Area codes are real US area codes; every number built from them
is in the fictional ``555-0100``..``555-0199`` range (see ``phones.py``).

Phrase templates use ``str.format`` fields filled per ad:

| field | filled with |
|---|---|
| ``{name}`` | the persona's claimed first name |
| ``{age}`` | the persona's claimed age |
| ``{city}`` | the ad's city |
| ``{hair}``, ``{eyes}``, ``{look}`` | the persona's looks |
| ``{adj}``, ``{adj2}`` | adjectives the owner likes (``ADJECTIVES``) |
| ``{svc}`` | a service phrase the owner likes (``SERVICES``) |
| ``{when}`` | an availability phrase (``WHEN``) |
| ``{place}`` | incall/outcall phrase (``PLACES``) |
| ``{area}`` | a neighbourhood-ish place in town (``AREAS``) |
| ``{pet}`` | a term of address (``PET_NAMES``) |
"""

from __future__ import annotations

# (city, state, region, tier, area codes). Tier 1 = big market (higher ad prices).
CITIES: tuple[tuple[str, str, str, int, tuple[int, ...]], ...] = (
    ("New York", "NY", "northeast", 1, (212, 646, 718, 917)),
    ("Boston", "MA", "northeast", 1, (617, 857)),
    ("Philadelphia", "PA", "northeast", 1, (215, 267)),
    ("Pittsburgh", "PA", "northeast", 2, (412,)),
    ("Newark", "NJ", "northeast", 2, (973, 862)),
    ("Providence", "RI", "northeast", 3, (401,)),
    ("Hartford", "CT", "northeast", 3, (860,)),
    ("Baltimore", "MD", "south", 2, (410, 443)),
    ("Washington", "DC", "south", 1, (202,)),
    ("Richmond", "VA", "south", 3, (804,)),
    ("Charlotte", "NC", "south", 2, (704, 980)),
    ("Atlanta", "GA", "south", 1, (404, 470, 678)),
    ("Miami", "FL", "south", 1, (305, 786)),
    ("Orlando", "FL", "south", 2, (407, 321)),
    ("Tampa", "FL", "south", 2, (813,)),
    ("Jacksonville", "FL", "south", 3, (904,)),
    ("Nashville", "TN", "south", 2, (615,)),
    ("Memphis", "TN", "south", 3, (901,)),
    ("New Orleans", "LA", "south", 2, (504,)),
    ("Houston", "TX", "south", 1, (713, 281, 832)),
    ("Dallas", "TX", "south", 1, (214, 469, 972)),
    ("San Antonio", "TX", "south", 2, (210,)),
    ("Austin", "TX", "south", 2, (512, 737)),
    ("Chicago", "IL", "midwest", 1, (312, 773, 872)),
    ("Detroit", "MI", "midwest", 2, (313,)),
    ("Cleveland", "OH", "midwest", 3, (216,)),
    ("Columbus", "OH", "midwest", 2, (614,)),
    ("Indianapolis", "IN", "midwest", 2, (317,)),
    ("Minneapolis", "MN", "midwest", 2, (612,)),
    ("St. Louis", "MO", "midwest", 2, (314,)),
    ("Kansas City", "MO", "midwest", 3, (816,)),
    ("Milwaukee", "WI", "midwest", 3, (414,)),
    ("Denver", "CO", "west", 2, (303, 720)),
    ("Phoenix", "AZ", "west", 1, (602, 480, 623)),
    ("Las Vegas", "NV", "west", 1, (702, 725)),
    ("Salt Lake City", "UT", "west", 3, (801,)),
    ("Los Angeles", "CA", "west", 1, (213, 310, 323, 818)),
    ("San Diego", "CA", "west", 1, (619, 858)),
    ("San Francisco", "CA", "west", 1, (415, 628)),
    ("Sacramento", "CA", "west", 3, (916,)),
    ("Portland", "OR", "west", 2, (503, 971)),
    ("Seattle", "WA", "west", 1, (206, 253, 425)),
)

# Ad sites (fictional, RFC 2606 domains) and their price lists: USD for a base ad and for a
# sponsored ad, by city tier. Backpage-era prices were a few dollars for a base adult ad and
# tens of dollars to sponsor one (Portnoff et al. 2017, section 3).
SITES: dict[str, dict[int, tuple[float, float]]] = {
    "backlist.example": {1: (12.0, 60.0), 2: (8.0, 40.0), 3: (5.0, 25.0)},
    "citynights.example": {1: (10.0, 45.0), 2: (7.0, 30.0), 3: (4.0, 20.0)},
    "datelocal.example": {1: (15.0, 75.0), 2: (10.0, 50.0), 3: (6.0, 30.0)},
}
SITE_WEIGHTS = (0.6, 0.25, 0.15)

PERSONA_NAMES = (
    "Amber", "Angel", "Ashley", "Autumn", "Bella", "Brandy", "Brittany", "Candy", "Carmen",
    "Cherry", "Chloe", "Cinnamon", "Crystal", "Daisy", "Destiny", "Diamond", "Dominique",
    "Ebony", "Emma", "Essence", "Eva", "Faith", "Gigi", "Ginger", "Grace", "Harmony", "Heaven",
    "Honey", "Isabella", "Ivy", "Jade", "Jasmine", "Jessica", "Jewel", "Kandi", "Kayla",
    "Kiki", "Kim", "Lacey", "Layla", "Lexi", "Lily", "Lola", "Luna", "Lyric", "Madison", "Mia",
    "Mimi", "Misty", "Monique", "Nadia", "Naomi", "Nikki", "Nina", "Paris", "Peaches", "Pepper",
    "Precious", "Raven", "Remy", "Roxy", "Ruby", "Sabrina", "Sade", "Sapphire", "Sasha",
    "Scarlett", "Serenity", "Sienna", "Sky", "Sophia", "Stacy", "Star", "Summer", "Sunny",
    "Tiffany", "Tina", "Trinity", "Valentina", "Vanessa", "Victoria", "Violet", "Vivian",
    "Yasmin", "Zoe", "Alexis", "Aaliyah", "Bianca", "Camila", "Daniela", "Gabriela",
    "Juliet", "Kylie", "Maya", "Natalia", "Olivia", "Selena", "Tatiana", "Yuki", "Mei",
)  # fmt: skip

HAIR = ("blonde", "brunette", "red hair", "black hair", "long dark hair", "curly hair",
        "honey blonde", "short blonde hair", "long brown hair", "auburn hair")  # fmt: skip
EYES = ("blue eyes", "green eyes", "brown eyes", "hazel eyes", "dark eyes", "grey eyes")
LOOKS = ("petite", "slim", "curvy", "athletic", "tall", "thick", "slender", "fit",
         "5'4", "5'6", "5'8", "busty", "toned", "girl next door")  # fmt: skip

ADJECTIVES = (
    "sweet", "sexy", "classy", "gorgeous", "beautiful", "stunning", "playful", "friendly",
    "discreet", "exotic", "fun", "bubbly", "sensual", "elegant", "charming", "hot", "cute",
    "naughty", "flirty", "upscale", "warm", "relaxing", "soft", "passionate", "real",
    "independent", "unforgettable", "amazing", "irresistible", "adventurous",
)  # fmt: skip

SERVICES = (
    "full body massage", "relaxing massage", "deep tissue massage", "companionship",
    "dinner dates", "girlfriend experience", "overnight dates", "travel companion",
    "good conversation", "quality time", "sensual massage", "body rubs", "hot stone massage",
    "couples friendly", "fetish friendly", "role play", "dinner and drinks", "party time",
)  # fmt: skip

WHEN = ("available now", "available tonight", "available 24/7", "in town this week only",
        "here for a few days only", "available all night", "open late", "available today",
        "last night in town", "new in town", "back in town", "available til late")  # fmt: skip

PLACES = ("incall only", "outcall only", "incall & outcall", "incall and outcall",
          "in/out calls", "private incall", "upscale incall", "hotel outcall",
          "outcall to hotels and homes", "clean private location")  # fmt: skip

AREAS = ("downtown", "near the airport", "uptown", "by the mall", "midtown", "the east side",
         "the west side", "near the highway", "the north side", "near the stadium")  # fmt: skip

PET_NAMES = ("gentlemen", "guys", "boys", "fellas", "baby", "daddy", "hun", "papi", "handsome",
             "sweetie", "love", "honey")  # fmt: skip

# Title templates; an owner prefers a few.
TITLES = (
    "{adj} {name} {when}",
    "{name} - {adj} and {adj2} - {age}",
    "{adj} {look} {hair} {when}",
    "{when} {adj} {name}",
    "{name} in {city} {when}",
    "{adj} {svc} by {name}",
    "let me be your {adj} escape",
    "{adj} {look} girl {when} - {age}",
    "the {adj}est girl in {city}",
    "new {adj} face {when}",
    "{name} {age} {adj} {look}",
    "{svc} {when} {place}",
    "ur {adj} dream girl {name}",
    "{adj} treat in {city}",
    "come relax with {name}",
    "{adj} and {adj2} {when} - {age}",
)

# Body slots, in a default order; each owner keeps most slots, may drop some and may reorder
# the middle ones. Each slot is a list of phrase templates.
SLOTS: dict[str, tuple[str, ...]] = {
    "greeting": (
        "hey {pet}",
        "hi {pet}",
        "hello {pet}",
        "hey there",
        "hi there {pet}",
        "welcome {pet}",
        "good evening {pet}",
        "hey you",
        "whats up {pet}",
        "hello and welcome",
    ),
    "intro": (
        "my name is {name} and i am a {adj} {look} {age} year old",
        "i'm {name}, a {adj} and {adj2} girl with {hair} and {eyes}",
        "{name} here, {age}, {look} with {hair}",
        "they call me {name}, {adj} {look} and always {adj2}",
        "im {name} your {adj} {look} {hair} girl",
        "it's {name}, {age} years young and {adj}",
        "meet {name}: {adj}, {adj2}, {look}",
        "let me introduce myself, i am {name}",
        "my friends call me {name}, {age} and {adj}",
        "this is {name}, the {adj} girl you have been looking for",
    ),
    "looks": (
        "i have {hair}, {eyes} and a {adj} smile",
        "{look} body, {hair} and {eyes}",
        "{eyes}, {hair}, {look} and all natural",
        "pics are 100% real and recent",
        "my photos are real, what you see is what you get",
        "{look} and {adj} with {eyes} that will make you melt",
        "soft skin, {hair}, {adj} curves",
        "{hair} {eyes} {look} and very {adj}",
    ),
    "offer": (
        "i offer {svc} and {svc}",
        "specializing in {svc}",
        "come enjoy a {adj} {svc}",
        "i love {svc} and {svc}",
        "let me treat you to {svc}",
        "treat yourself to {svc} with a {adj} girl",
        "my specialty is {svc}",
        "perfect for {svc} or just {svc}",
        "{svc}, {svc} and more",
        "looking for {svc}? you found her",
    ),
    "about": (
        "i love shopping, travel and good food",
        "i am a {adj} college girl working my way through school",
        "when i'm not working i love the beach and yoga",
        "i enjoy good wine and even better company",
        "i am new to this and a little shy at first",
        "i have been told i am {adj} and easy to talk to",
        "i love to laugh and i'm a great listener",
        "i am a {adj} southern girl with a big heart",
        "i dance, i sing and i love to make new friends",
        "i keep myself fit and i take pride in how i look",
        "my clients say i am {adj} and {adj2}",
        "i am always smiling and ready for a good time",
    ),
    "mood": (
        "i am very {adj} and easy going",
        "i will make you forget all your stress",
        "you won't be disappointed",
        "satisfaction guaranteed",
        "come unwind after a long day",
        "let me take care of you",
        "i am the {adj} girl you deserve",
        "every minute with me is {adj}",
        "no rush, no stress, just fun",
        "i promise you will come back",
        "treat yourself, you deserve it",
    ),
    "where": (
        "{place} in {city}",
        "{place}, {area} {city}",
        "located {area}, {place}",
        "{when} in {city} {area}",
        "visiting {city} {when}",
        "{place}, {area}",
        "{city} {area} {place}",
        "i'm in {city}, {place}",
    ),
    "rules": (
        "serious gentlemen only",
        "no law enforcement",
        "no blocked calls",
        "no texts from blocked numbers",
        "be respectful and on time",
        "screening required",
        "no games, no time wasters",
        "please be clean and respectful",
        "no explicit talk over the phone",
        "first timers welcome",
        "i don't answer private numbers",
        "low volume provider",
    ),
    "contact": (
        "call or text {contact}",
        "text me {contact}",
        "{contact}",
        "text only {contact}",
        "for appointments {contact}",
        "hit me up {contact}",
        "reach me at {contact}",
        "call {contact} now",
        "book me: {contact}",
        "serious inquiries {contact}",
    ),
    "closing": (
        "see you soon",
        "xoxo {name}",
        "kisses, {name}",
        "don't miss out",
        "call now before i leave",
        "can't wait to meet you",
        "hope to hear from you",
        "{name}",
        "love, {name}",
        "talk soon {pet}",
        "make it a night to remember",
    ),
}
SLOT_ORDER = tuple(SLOTS)
# Slots that may move around; greeting stays first and closing last.
MOVABLE_SLOTS = ("looks", "about", "offer", "mood", "where", "rules", "contact")

# Emoji pool (hearts, kisses, flowers, sparkles, food, stars). Each owner has a small set.
EMOJI = (
    "💋", "❤️", "💕", "💖", "💗", "💞", "😘", "😍", "😉", "😊", "🔥", "✨", "🌹", "🌸", "🌺",
    "🌷", "💐", "🍒", "🍓", "🍑", "🍭", "🍬", "🍯", "⭐", "🌟", "💫", "👑", "💎", "👠", "👄",
    "🦋", "🐝", "🌙", "☀️", "🌈", "🎀", "💄", "😈", "🥰", "😻", "💜", "💙", "💚",
    "🖤", "💛", "🤍", "❣️", "♥️", "🌶️", "🍷", "🥂", "🍾", "🎉", "🏩", "🚗", "📞", "📱", "✔️",
)  # fmt: skip

# Misspellings and slang substitutions ads use (word -> variants). An owner adopts a few.
SUBSTITUTIONS: dict[str, tuple[str, ...]] = {
    "you": ("u", "yu", "ya"),
    "your": ("ur", "yr", "youre"),
    "you're": ("ur", "youre", "your"),
    "are": ("r",),
    "girl": ("gurl", "grl", "gyal"),
    "please": ("plz", "pls", "pleez"),
    "the": ("da", "tha"),
    "for": ("4", "fo"),
    "to": ("2",),
    "tonight": ("2nite", "tonite", "2night"),
    "night": ("nite",),
    "and": ("&", "n", "an"),
    "with": ("w/", "wit"),
    "i'm": ("im", "Im", "i am"),
    "it's": ("its",),
    "don't": ("dont", "dnt"),
    "won't": ("wont",),
    "can't": ("cant",),
    "sexy": ("sexxy", "sexii", "sexi"),
    "baby": ("babe", "bby", "babii"),
    "love": ("luv", "lov"),
    "available": ("avail", "availble", "avalable"),
    "appointments": ("appts", "appointmnts"),
    "gentlemen": ("gentleman", "gents", "gentelmen"),
    "massage": ("masage", "massge"),
    "beautiful": ("beautifull", "beautful", "bootiful"),
    "gorgeous": ("gorgous", "georgeous"),
    "discreet": ("discrete", "discret"),
    "because": ("cuz", "bc"),
    "what": ("wat", "wut"),
    "whats": ("wats", "wuts", "what's"),
    "come": ("cme", "comee"),
    "now": ("nw", "noww"),
    "really": ("rly", "realy"),
    "just": ("jus", "jst"),
    "hey": ("heyy", "hay"),
    "sweet": ("sweeet", "swt"),
    "time": ("tyme",),
    "cute": ("qt", "kute"),
    "sweetie": ("sweety",),
    "guaranteed": ("guarenteed", "garanteed"),
    "this": ("dis", "thiss"),
    "that": ("dat",),
}

# Endings of sentences and separators between them; an owner prefers a few of each.
ENDINGS = (".", "!", "!!", "!!!", "...", "..", "~", "~~", " !", "!!!!", "", "?!", " ;)", " :)",
           "♡", "!.", ",")  # fmt: skip
JOINERS = (" ", "  ", "\n", " - ", " | ", " * ", " ~ ", " • ", " ** ", " -- ", " // ")
BULLETS = ("•", "-", "*", "✔", "~", ">>", "♡", "★", "✨", "💋")
