"""Fixed word and sentence tables of the LaMP-family demo data (data/family_demo.py). Synthetic text only."""

from __future__ import annotations

# ----------------------------------------------------------------------------- product reviews

OPENERS = ("Honestly,", "Quick take:", "Okay so", "Long story short,", "First impressions:", "Real talk:",
           "Bottom line,", "So here goes:", "Full disclosure,", "In a nutshell,")
CLOSERS = ("Would buy again.", "Five stars from me, no regrets.", "That's my two cents.", "Highly recommend it to anyone.",
           "Solid purchase overall.", "Happy camper here.", "Money well spent, in my book.",
           "I'd tell a friend to grab one.", "Worth every penny.", "No complaints so far.")
BAD_CLOSERS = ("I sent it back.", "Save your money.", "Not for me, sadly.", "I expected more.",
               "Hard pass next time.")
INTENSIFIERS = ("super", "really", "incredibly", "pretty", "remarkably", "seriously", "genuinely", "wonderfully")
GOOD_ADJECTIVES = ("sturdy", "sleek", "handy", "reliable", "well made", "compact", "versatile", "comfy",
                   "practical", "lightweight", "elegant", "durable")
BAD_ADJECTIVES = ("flimsy", "disappointing", "clunky", "overpriced", "fragile")
PET_PHRASES = ("for the price", "in my kitchen", "on a daily basis", "for everyday use", "around the house",
               "on weekends", "for a small apartment", "after a long day")
FEATURE_GOOD = ("The {feature} works exactly as described {pet}.", "I love the {feature}, it makes a difference {pet}.",
                "The {feature} is the best part {pet}.", "No issues with the {feature} {pet}.")
FEATURE_BAD = ("The {feature} stopped working after a week.", "The {feature} feels cheap {pet}.",
               "I had trouble with the {feature} from day one.", "The {feature} is not what the listing promised.")
USE_SENTENCES = ("I have been using the {noun} {pet} and it is {very} easy to clean.",
                 "Setting up the {noun} took five minutes {pet}.",
                 "My partner uses the {noun} too, {pet}, and agrees with me.",
                 "It fits nicely {pet} and looks {very} good on the shelf.")


def _product(noun: str, description: str, quality: int, *features: str) -> dict:
    return {"noun": noun, "description": description, "quality": quality, "features": features}


PRODUCTS = (
    _product("kettle", "Stainless steel electric kettle, 1.7 litre, with auto shut-off", 4,
             "auto shut-off", "water window", "handle", "lid hinge"),
    _product("blender", "Countertop blender with 6 speeds and a glass jar", 4, "glass jar", "speed dial", "blade",
             "pulse button"),
    _product("desk lamp", "LED desk lamp with adjustable arm and three colour modes", 5, "adjustable arm",
             "dimmer", "colour modes", "base"),
    _product("backpack", "Water-resistant laptop backpack with 15 inch sleeve", 4, "laptop sleeve", "zippers",
             "shoulder straps", "side pockets"),
    _product("toaster", "Two-slice toaster with bagel and defrost settings", 3, "bagel setting", "crumb tray",
             "browning dial", "lever"),
    _product("headphones", "Wireless over-ear headphones with noise cancelling", 4, "noise cancelling",
             "battery", "ear cushions", "bluetooth pairing"),
    _product("yoga mat", "Non-slip yoga mat, 6 mm thick, with carry strap", 5, "grip", "carry strap", "thickness",
             "surface"),
    _product("coffee grinder", "Burr coffee grinder with 15 grind settings", 4, "grind settings", "hopper",
             "burrs", "timer"),
    _product("umbrella", "Compact travel umbrella with automatic open and close", 3, "automatic button", "canopy",
             "frame", "sleeve"),
    _product("frying pan", "Non-stick frying pan, 28 cm, oven safe", 4, "non-stick coating", "handle", "base",
             "oven safety"),
    _product("phone stand", "Aluminium phone stand with adjustable angle", 5, "angle hinge", "rubber pads",
             "cable slot", "base plate"),
    _product("water bottle", "Insulated water bottle, 750 ml, keeps drinks cold for 24 hours", 4, "insulation",
             "lid", "carry loop", "paint finish"),
    _product("alarm clock", "Sunrise alarm clock with radio and soft light", 3, "sunrise light", "radio",
             "snooze button", "display"),
    _product("office chair", "Ergonomic office chair with lumbar support", 4, "lumbar support", "armrests",
             "wheels", "height lever"),
    _product("rice cooker", "Rice cooker with keep-warm function, 5 cups", 4, "keep-warm function", "inner pot",
             "steam vent", "measuring cup"),
    _product("bike light", "Rechargeable front bike light, 800 lumens", 3, "brightness", "mount", "USB charging",
             "flash mode"),
)

# ----------------------------------------------------------------------------- LaMP-QA lifestyle questions


def _preference(aspect: str, reason: str, stated: str, need: str) -> dict:
    return {"aspect": aspect, "reason": reason, "stated": stated, "need": need}


PREFERENCES = (
    _preference("Vegetarian options", "The asker does not eat meat.",
                "I stopped eating meat two years ago and cook mostly lentils, beans and tofu.",
                "They do not eat meat."),
    _preference("Low budget", "The asker has little money to spend.",
                "Money is tight for me right now, I can spend maybe twenty dollars a week on extras.",
                "They have a very small budget."),
    _preference("Little free time", "The asker works long shifts.",
                "I work twelve hour night shifts at the hospital, so I only have short windows of free time.",
                "They have very little free time."),
    _preference("Knee-friendly exercise", "The asker has a knee injury.",
                "Since my knee surgery last spring I cannot run or jump anymore.",
                "They cannot do high-impact exercise because of a knee injury."),
    _preference("Introvert-friendly", "The asker dislikes crowds and group settings.",
                "Big groups drain me, I am much happier doing things alone or with one friend.",
                "They prefer to do things alone."),
    _preference("Small apartment", "The asker lives in a tiny space.",
                "My studio apartment is about thirty square metres, there is no room for bulky stuff.",
                "They live in a very small apartment."),
    _preference("Works with kids around", "The asker looks after two young children.",
                "I have two kids under five at home, so everything happens with them around.",
                "They care for two young children at home."),
    _preference("Early mornings", "The asker is most energetic early in the day.",
                "I am a morning person, I get up at five and I am useless after eight in the evening.",
                "They have the most energy early in the morning."),
    _preference("Dairy-free", "The asker is lactose intolerant.",
                "I am lactose intolerant, so milk, cheese and yogurt are out for me.",
                "They cannot have dairy."),
    _preference("Beginner level", "The asker has never done this before.",
                "I am a complete beginner, I have never tried anything like this before.",
                "They are a complete beginner."),
    _preference("Eco-conscious choices", "The asker cares about waste and the environment.",
                "I try hard to avoid plastic and to buy second hand whenever I can.",
                "They want to avoid waste and plastic."),
    _preference("Written plans", "The asker likes structured, written step-by-step plans.",
                "I do best with a written checklist, vague advice just makes me procrastinate.",
                "They want a concrete written plan."),
)
QUESTIONS = (
    "How can I plan a week of healthy meals?", "What is a good way to start exercising again?",
    "How do I build a morning routine that sticks?", "How can I save money on groceries?",
    "What are good hobbies to pick up this year?", "How can I get better sleep?",
    "How do I start learning a new language?", "How can I declutter my home?",
    "What is the best way to make new friends as an adult?", "How can I reduce stress after work?",
    "How do I stay motivated to read more books?", "How can I eat more protein?",
    "What should I pack for a weekend hiking trip?", "How can I keep houseplants alive?",
    "How do I organize my finances for the month?", "How can I spend less time on my phone?",
)
FILLER_DETAILS = ("Thanks in advance for any tips.", "I have read a few articles but they all say different things.",
                  "Any advice is welcome, I am a bit lost.")
